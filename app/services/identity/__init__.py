"""Users, brands and their members: who the caller is and what they may see."""
