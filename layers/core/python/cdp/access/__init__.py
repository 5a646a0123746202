"""Who is calling the admin API and what their role lets them do."""
