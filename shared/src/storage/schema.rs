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
        redirect_uris -> Text,
        id_token_alg -> Text,
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

// OpenID Connect (migration 2026-12-06-000200_openid_connect).
diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        application_id -> BigInt,
        user_id -> BigInt,
        redirect_uri -> Text,
        scope -> Text,
        code_challenge -> Text,
        nonce -> Nullable<Text>,
        auth_time -> BigInt,
        created -> BigInt,
        expires -> BigInt,
        family -> Nullable<Text>,
    }
}

diesel::table! {
    login_sessions (id_hash) {
        id_hash -> Text,
        user_id -> BigInt,
        auth_time -> BigInt,
        expires -> BigInt,
    }
}

diesel::table! {
    consents (user_id, application_id, scope) {
        user_id -> BigInt,
        application_id -> BigInt,
        scope -> Text,
        created -> BigInt,
    }
}

diesel::joinable!(authorization_codes -> users (user_id));
diesel::joinable!(authorization_codes -> applications (application_id));
diesel::joinable!(login_sessions -> users (user_id));
diesel::joinable!(consents -> users (user_id));
diesel::joinable!(consents -> applications (application_id));
// Pairs only: the core tables are listed together below.
diesel::allow_tables_to_appear_in_same_query!(authorization_codes, users);
diesel::allow_tables_to_appear_in_same_query!(authorization_codes, applications);
diesel::allow_tables_to_appear_in_same_query!(login_sessions, users);
diesel::allow_tables_to_appear_in_same_query!(consents, users);
diesel::allow_tables_to_appear_in_same_query!(consents, applications);

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

// The login throttle shared by instances (migration 2026-12-06-000300_login_throttle).
diesel::table! {
    login_throttle (key) {
        key -> Text,
        failures -> Integer,
        last_ms -> BigInt,
        blocked_until_ms -> Nullable<BigInt>,
    }
}
