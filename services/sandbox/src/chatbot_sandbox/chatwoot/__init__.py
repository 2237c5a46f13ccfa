"""The fake Chatwoot (4.15.1): the API-channel subset that hands a user to a human agent."""
