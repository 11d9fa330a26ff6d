"""What runs inside agents: the clients, their waits and the decorator. Imports no Bolt and no
logging setup."""
