//! The shared suite on the rocket adapter.
chat_token_tests::suite!(chat_token_tests::harness::Rocket);
