//! The shared suite on the axum adapter.
chat_token_tests::suite!(chat_token_tests::harness::Axum);
