"""Ports for the test brokers: a cluster's nine listeners must all differ."""

from rapport_devtools.natscluster import NatsCluster
from rapport_devtools.natsserver import free_ports


def test_ports_chosen_together_are_distinct():
    for _ in range(20):
        ports = free_ports(50)
        assert len(set(ports)) == 50


def test_a_clusters_listeners_never_share_a_port(tmp_path):
    cluster = NatsCluster(tmp_path)  # configured, not started
    ports = [p for node in cluster.nodes for p in (node.route_port, node.http_port)]
    ports += [node.server.port for node in cluster.nodes]
    assert len(set(ports)) == 9
