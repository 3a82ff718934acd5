"""The two websockets: the shopper's chat (`chat`) and the agent console (`agent`), on one frame parser (`frames`)."""
