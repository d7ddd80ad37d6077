"""Daily scoring: model scores with reasons, cluster lift, policy tiers, drift."""
