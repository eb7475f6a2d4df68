"""What a build cost, from what it left behind: ninja's log -> the cost of each unit and target
-> a trace and a timeline -> the one-line digest; and each unit's peak memory."""
