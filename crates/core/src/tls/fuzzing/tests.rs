use super::*;

/// The entry points run, and reach what they are for, on a few hand-made inputs.
#[test]
fn fuzz_entry_points_run_on_seed_inputs() {
    let data_record = |payload: &[u8]| {
        let mut inner = payload.to_vec();
        inner.push(23);
        let mut chunk = (inner.len() as u16).to_be_bytes().to_vec();
        chunk.push(128);
        chunk.extend(inner);
        chunk
    };
    let key_update = |request: u8| {
        let mut chunk = vec![0, 7, 100];
        chunk.extend([24, 0, 0, 1, request, 22, 0]);
        chunk
    };
    for suite in 0..3u8 {
        let mut input = vec![suite];
        input.extend(data_record(b"hello"));
        for _ in 0..40 {
            input.extend(key_update(1));
        }
        input.extend(data_record(b"after"));
        records_past_the_aead(&input);
    }
    ktls_control_records(&[0, 22, 5, 24, 0, 0, 1, 1, 0xff, 0, 23, 1, b'x', 21, 2, 1, 0]);
    ktls_control_records(&[1, 22, 4, 1, 0, 0, 40, 21, 2, 1, 100]);
    records_past_the_aead(&[]);
    ktls_control_records(&[]);
}
