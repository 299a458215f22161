DROP TABLE service_keys;
DROP TABLE reseller_channels;
DROP TABLE resellers;
DROP TABLE channel_records;
DROP TABLE channels;
