"""Who answers for what, where and when: roster, catalog, calendar, SLA, chains, routing."""
