"""The Stasis application: ARI client, the call state machine, and the edges that run it."""
