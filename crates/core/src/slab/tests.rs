use super::*;

#[test]
fn a_removed_key_no_longer_reaches_the_slot_or_its_successor() {
    let mut slab = Slab::new();
    let a = slab.insert("a");
    assert_eq!(slab.remove(a), Some("a"));
    let b = slab.insert("b");
    assert_eq!(b.index, a.index);
    assert_eq!(slab.get_mut(a), None);
    assert_eq!(slab.remove(a), None);
    assert_eq!(slab.get_mut(b), Some(&mut "b"));
    assert_eq!(slab.len(), 1);
    assert_eq!(slab.keys(), vec![b]);
}

#[test]
fn a_taken_value_keeps_its_slot_until_restored_or_released() {
    let mut slab = Slab::new();
    let a = slab.insert(1);
    assert_eq!(slab.take(a), Some(1));
    let b = slab.insert(2);
    assert_ne!(a.index, b.index);
    slab.restore(a, 3);
    assert_eq!(slab.get_mut(a), Some(&mut 3));
    slab.take(a);
    slab.release(a);
    assert_eq!(slab.len(), 1);
    assert_eq!(slab.get_mut(a), None);
}
