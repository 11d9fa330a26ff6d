"""The bot's workers: serve, the relay, the scheduler, the consumer groups, the sealer, health and
metrics."""
