//! The profile a social provider returns for its token's owner: what Fake Social Site's
//! `user_details/` answers and what My API's backends read.

use serde::{Deserialize, Serialize};

/// A user's public profile as Fake Social Site serialises it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Profile {
    pub id: i64,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}
