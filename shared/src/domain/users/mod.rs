//! Users: how their bodies are read, their SQL, and what the API shows of them. The
//! users function serves them; the Slack sync writes them through the same code. The
//! string rules their fields are checked with are the platform's
//! (`platform::input::rules`).

pub mod input;
pub mod repo;
pub mod view;

pub use input::{Mode, Patch, SnsAccount, UserInput};
pub use repo::{Filter, Registered, UserRow};
pub use view::{UserView, Visibility};
