"""The modular SimHum policy: configuration, networks and the flow-matching head."""
