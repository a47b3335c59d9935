//! Golden vectors made by Twilio's Python helper (`twilio==9.13.0`, see
//! `xtask/requirements.txt`); regenerate with `cargo xtask golden`. Every case must be
//! reproduced byte for byte.

use chat_token_cases::Case;

const GOLDEN: &str = include_str!("data/golden.jsonl");

#[test]
fn every_golden_vector_is_reproduced_byte_for_byte() {
    let mut count = 0;
    for line in GOLDEN.lines().filter(|l| !l.trim().is_empty()) {
        let case: Case = serde_json::from_str(line).expect("golden case");
        let want = case.token.as_deref().expect("golden case has a token");
        assert_eq!(case.mint().as_deref(), Ok(want), "case {}", case.name);
        count += 1;
    }
    assert!(count >= 60, "only {count} golden cases");
}

#[test]
fn the_reference_chat_token_is_among_them() {
    let reference = GOLDEN
        .lines()
        .filter_map(|l| serde_json::from_str::<Case>(l).ok())
        .find(|c| c.name == "reference-chat-token")
        .expect("reference-chat-token case");
    assert_eq!(
        reference.token.as_deref(),
        Some(
            "eyJhbGciOiJIUzI1NiIsImN0eSI6InR3aWxpby1mcGE7dj0xIiwidHlwIjoiSldUIn0.eyJqdGkiOiJTS2JiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiLTE3MDAwMDAwMDAiLCJncmFudHMiOnsiY2hhdCI6eyJzZXJ2aWNlX3NpZCI6IklTZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGQiLCJlbmRwb2ludF9pZCI6ImFwcDphbGljZUBleGFtcGxlLmNvbTpicm93c2VyIiwicHVzaF9jcmVkZW50aWFsX3NpZCI6IkNSZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWUifSwiaWRlbnRpdHkiOiJhbGljZUBleGFtcGxlLmNvbSJ9LCJpc3MiOiJTS2JiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiIiwiZXhwIjoxNzAwMDAzNjAwLCJuYmYiOjE3MDAwMDAwMDAsInN1YiI6IkFDYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWEifQ.HMpvzflNg1bFxVrs5bezHifQfQh6gaLojFDGWkMapIs"
        )
    );
}
