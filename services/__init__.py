"""What devices and web pages share inside the agent: the media store, uploads, print jobs and the board hub.

Below devices and above drivers: a store knows nothing of device kinds, MQTT or HTTP routes."""
