"""Rapport's dev and test tools, a dev dependency only: the nats-server binary on free ports
(natsserver) and as a three-node cluster (natscluster), the suite as local processes
(localsuite, what `make run` starts) and the tests' helpers (testing). May import anything of
rapport_shared; production code (rapport_shared, the services) never imports this package.
"""
