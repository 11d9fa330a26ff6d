"""Adapters between agent frameworks and hitl-slack; each needs its extra."""
