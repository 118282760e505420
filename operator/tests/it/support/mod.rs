//! What the operator's tests share: the mock API that checks every request in order, and
//! the loopback fake API server the controller and the binary run against.

pub mod fake_api;
pub mod mock_api;
