"""LINE-centric Customer Data Platform: the domain library shipped as the core Lambda layer."""
