use super::*;

#[test]
fn transitions_are_counted_not_verdicts() {
    let s = ServerHealth::default();
    assert_eq!(s.is_up(), None);
    s.mark_up();
    s.mark_up();
    assert_eq!((s.is_up(), s.marks()), (Some(true), (0, 0)));
    s.mark_down();
    s.mark_down();
    assert_eq!((s.is_up(), s.marks()), (Some(false), (0, 1)));
    s.mark_up();
    assert_eq!((s.is_up(), s.marks()), (Some(true), (1, 1)));
}

#[test]
fn a_server_found_down_first_counts_as_marked_down() {
    let s = ServerHealth::default();
    s.mark_down();
    assert_eq!((s.is_up(), s.marks()), (Some(false), (0, 1)));
}
