//! Diesel table definitions for the shared migrations (`shared/migrations`).

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password -> Text,
        email -> Text,
        first_name -> Text,
        last_name -> Text,
        is_active -> Bool,
        is_staff -> Bool,
        is_superuser -> Bool,
        date_joined -> BigInt,
    }
}

diesel::table! {
    applications (id) {
        id -> BigInt,
        client_id -> Text,
        name -> Text,
        client_type -> Text,
        client_secret_hash -> Nullable<Text>,
        grant_types -> Text,
        user_id -> Nullable<BigInt>,
        created -> BigInt,
        allow_introspection -> Bool,
    }
}

diesel::table! {
    access_tokens (jti) {
        jti -> Text,
        user_id -> BigInt,
        application_id -> BigInt,
        family -> Text,
        scope -> Text,
        created -> BigInt,
        expires -> BigInt,
        revoked -> Bool,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        access_jti -> Text,
        user_id -> BigInt,
        application_id -> BigInt,
        family -> Text,
        scope -> Text,
        created -> BigInt,
        expires -> BigInt,
        revoked -> Bool,
    }
}

diesel::table! {
    server_keys (name) {
        name -> Text,
        value -> Binary,
        created -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_key -> Binary,
        created -> BigInt,
        retired -> Nullable<BigInt>,
        expires -> Nullable<BigInt>,
    }
}

diesel::joinable!(access_tokens -> users (user_id));
diesel::joinable!(access_tokens -> applications (application_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(refresh_tokens -> applications (application_id));
diesel::joinable!(applications -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    applications,
    access_tokens,
    refresh_tokens,
    server_keys,
    signing_keys
);
