//! The shared suite on the actix-web adapter.
chat_token_tests::suite!(chat_token_tests::harness::Actix);
