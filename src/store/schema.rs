//! Diesel table definitions, shared by both backends (portable column types only).

diesel::table! {
    products (sku) {
        sku -> Text,
        body -> Text,
        hash -> Text,
        version -> BigInt,
        next_change_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    channel_change_days (channel_id, day) {
        channel_id -> BigInt,
        day -> Text,
        changes -> BigInt,
    }
}

diesel::table! {
    product_search (word, sku) {
        word -> Text,
        sku -> Text,
    }
}

diesel::table! {
    product_history (id) {
        id -> BigInt,
        sku -> Text,
        at -> Timestamp,
        by_name -> Text,
        fields -> Text,
        hash_before -> Nullable<Text>,
        hash_after -> Nullable<Text>,
        changes -> Nullable<Text>,
    }
}

diesel::table! {
    catalog_outbox (id) {
        id -> BigInt,
        sku -> Text,
        hash -> Nullable<Text>,
        by_name -> Text,
        at -> Timestamp,
        bulk -> Bool,
        done_groups -> BigInt,
    }
}

diesel::table! {
    tokens (id) {
        id -> BigInt,
        token_hash -> Text,
        name -> Text,
        role -> Text,
        reseller_code -> Nullable<Text>,
        created_at -> Timestamp,
        public_id -> Text,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    channels (id) {
        id -> BigInt,
        code -> Text,
        definition -> Text,
        definition_hash -> Text,
        evaluated_hash -> Nullable<Text>,
        reeval_after -> Nullable<Text>,
        last_seq -> BigInt,
        purged_seq -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    channel_records (channel_id, sku) {
        channel_id -> BigInt,
        sku -> Text,
        seq -> BigInt,
        hash -> Nullable<Binary>,
        record -> Nullable<Binary>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    record_dictionaries (id) {
        id -> BigInt,
        dictionary -> Binary,
        trained_on -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    resellers (code) {
        code -> Text,
        name -> Text,
        email -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    reseller_channels (reseller_code, channel_id) {
        reseller_code -> Text,
        channel_id -> BigInt,
    }
}

diesel::joinable!(channel_records -> channels (channel_id));
diesel::joinable!(reseller_channels -> resellers (reseller_code));
diesel::joinable!(reseller_channels -> channels (channel_id));
diesel::allow_tables_to_appear_in_same_query!(
    products,
    product_history,
    catalog_outbox,
    tokens,
    channels,
    channel_records,
    resellers,
    reseller_channels,
);

diesel::table! {
    service_keys (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Text,
        reseller_code -> Text,
        channel_id -> BigInt,
        url -> Text,
        format -> Text,
        secret -> Text,
        old_secret -> Nullable<Text>,
        old_secret_until -> Nullable<Timestamp>,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        cursor_seq -> BigInt,
        failures -> Integer,
        batch_id -> Nullable<Text>,
        batch_from -> Nullable<BigInt>,
        batch_to -> Nullable<BigInt>,
        batch_body -> Nullable<Text>,
        batch_attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        lease_until -> Nullable<Timestamp>,
        lease_owner -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        kind -> Text,
        email -> Nullable<Text>,
        every -> Nullable<Text>,
        next_digest_at -> Nullable<Timestamp>,
        behind_since -> Nullable<Timestamp>,
        ended_reason -> Nullable<Text>,
        ended_at -> Nullable<Timestamp>,
        channel_code -> Text,
        email_confirmed -> Bool,
    }
}

diesel::table! {
    digest_confirmations (subscription_id) {
        subscription_id -> Text,
        token_hash -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    confirmation_mails (reseller_code) {
        reseller_code -> Text,
        window_start -> Timestamp,
        sent -> Integer,
    }
}

diesel::table! {
    delivery_attempts (id) {
        id -> BigInt,
        subscription_id -> Text,
        at -> Timestamp,
        webhook_id -> Text,
        from_seq -> BigInt,
        to_seq -> BigInt,
        status -> Nullable<Integer>,
        latency_ms -> BigInt,
        response -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

diesel::joinable!(subscriptions -> channels (channel_id));
diesel::joinable!(subscriptions -> resellers (reseller_code));
diesel::joinable!(delivery_attempts -> subscriptions (subscription_id));
diesel::allow_tables_to_appear_in_same_query!(subscriptions, channels);
diesel::allow_tables_to_appear_in_same_query!(subscriptions, resellers);
diesel::allow_tables_to_appear_in_same_query!(subscriptions, delivery_attempts);
diesel::allow_tables_to_appear_in_same_query!(subscriptions, reseller_channels);
diesel::allow_tables_to_appear_in_same_query!(subscriptions, digest_confirmations);
diesel::joinable!(digest_confirmations -> subscriptions (subscription_id));

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        token_id -> BigInt,
        csrf_secret -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}
