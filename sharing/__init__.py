"""What a member hands to friends, made once for every front end: the invite links and their QR
codes."""
