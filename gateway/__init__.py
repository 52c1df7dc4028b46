"""The MQTT side: topics, payload codecs, validation, dead letters, presence and the subscriber."""
