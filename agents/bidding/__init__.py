"""Ad bidding: candidate campaigns, click probability → bid, budget and floor guards."""
