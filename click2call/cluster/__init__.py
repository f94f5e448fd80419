"""Several Asterisk nodes and several replicas of the service on one PostgreSQL database:

    nodes       which Asterisk nodes there are (configuration, pure)
    leases      which replica runs which node's event stream: leases in the database, spread over live replicas
    bus         PostgreSQL LISTEN/NOTIFY between replicas: a call to start, a request for a call, a result to wake
                a waiting request

With one replica (and SQLite) the replica owns every node and nothing crosses the database.
"""
