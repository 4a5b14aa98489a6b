"""The vocabulary every layer shares: kinds, statuses, priorities, localized text, the lesson, request errors,
wire timestamps. Standard library only, so that any layer, and `central/`, can import it without pulling
in hardware, MQTT or HTTP."""
