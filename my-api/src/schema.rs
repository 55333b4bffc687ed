//! Diesel table definitions for My API's own migrations (`my-api/migrations`).

pub use shared::storage::schema::users;

diesel::table! {
    social_links (id) {
        id -> BigInt,
        user_id -> BigInt,
        provider -> Text,
        uid -> Text,
        extra_data -> Text,
        created -> BigInt,
        modified -> BigInt,
    }
}

diesel::table! {
    items (id) {
        id -> BigInt,
        name -> Text,
        owner_id -> BigInt,
        created -> BigInt,
    }
}

diesel::table! {
    concepts (id) {
        id -> BigInt,
        name -> Text,
        parent_id -> Nullable<BigInt>,
        created -> BigInt,
    }
}

diesel::joinable!(social_links -> users (user_id));
diesel::joinable!(items -> users (owner_id));

diesel::allow_tables_to_appear_in_same_query!(social_links, items, concepts);

// Each with the shared `users`, which is defined in another crate: only the plain pairs can be
// declared here (the macro's PostgreSQL `ONLY`/`TABLESAMPLE` forms would be orphan impls).
macro_rules! with_users {
    ($($table:ident),+) => {
        $(
            impl diesel::query_source::TableNotEqual<users::table> for $table::table {}
            impl diesel::query_source::TableNotEqual<$table::table> for users::table {}
        )+
    };
}
with_users!(social_links, items, concepts);
