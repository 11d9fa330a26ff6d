"""The audit trail: the hash chain's verdicts, reading and exporting the trail."""
