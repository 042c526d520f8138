"""The TAO treasury: lots bought, transfers to Chutes, what they cost, how long they last."""
