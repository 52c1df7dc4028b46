"""The alert engine: lifecycle, tickets, SLA clocks, escalation, rota, reports; decisions pure, SQL at the edge."""
