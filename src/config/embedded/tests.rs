use super::*;

fn env() -> StateDirEnv {
    StateDirEnv::default()
}

#[test]
fn state_dir_follows_the_documented_order() {
    let mut e = env();
    assert_eq!(state_dir(&e), None);
    e.home = Some("/home/u".into());
    assert_eq!(
        state_dir(&e),
        Some(PathBuf::from("/home/u/.local/state/ringress"))
    );
    e.xdg_state_home = Some("relative/ignored".into());
    assert_eq!(
        state_dir(&e),
        Some(PathBuf::from("/home/u/.local/state/ringress"))
    );
    e.xdg_state_home = Some("/xdg".into());
    assert_eq!(state_dir(&e), Some(PathBuf::from("/xdg/ringress")));
    e.is_root = true;
    assert_eq!(state_dir(&e), Some(PathBuf::from("/var/lib/ringress")));
    e.state_directory = Some("/var/lib/ringress-sd:/var/lib/other".into());
    assert_eq!(state_dir(&e), Some(PathBuf::from("/var/lib/ringress-sd")));
    e.ringress_state_dir = Some("".into());
    assert_eq!(state_dir(&e), Some(PathBuf::from("/var/lib/ringress-sd")));
    e.ringress_state_dir = Some("/srv/ringress".into());
    assert_eq!(state_dir(&e), Some(PathBuf::from("/srv/ringress")));
}
