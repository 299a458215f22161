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
    product_history (id) {
        id -> BigInt,
        sku -> Text,
        at -> Timestamp,
        by_name -> Text,
        fields -> Text,
        hash_before -> Nullable<Text>,
        hash_after -> Nullable<Text>,
    }
}

diesel::table! {
    catalog_outbox (id) {
        id -> BigInt,
        sku -> Text,
        hash -> Nullable<Text>,
        by_name -> Text,
        at -> Timestamp,
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
        hash -> Nullable<Text>,
        record -> Nullable<Text>,
        deleted_at -> Nullable<Timestamp>,
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
    reseller_channels (reseller_code, channel_code) {
        reseller_code -> Text,
        channel_code -> Text,
    }
}

diesel::joinable!(channel_records -> channels (channel_id));
diesel::joinable!(reseller_channels -> resellers (reseller_code));
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
