"""An integrator's view of Rapport: print one clinic's events, with plain nats-py and nothing else.

    python examples/integrator.py --server nats://127.0.0.1:14222 --clinic northside
    python examples/integrator.py --clinic northside --user northside --password ...   # tenants

Each Rapport service owns one JetStream stream (RAPPORT_SESSIONS, RAPPORT_GOALS,
RAPPORT_NOTIFICATIONS). This creates one durable pull consumer per stream, named
<clinic>-integration and filtered on rapport.<clinic>.<service>.>, so a restart resumes where it
stopped. Those are exactly the names and filters a per-clinic integrator user may use under
deploy/nats/tenants.conf, which also requires replies on the clinic's own inbox prefix.
An event is acked only after it has been handled (here: printed), so none is lost. Delivery is
at least once: a crash between handling and ack redelivers the event, so an integrator
de-duplicates by the CloudEvent `id`.
"""

import argparse
import asyncio
import json

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

SERVICES = ("sessions", "goals", "notifications")


async def follow(
    server: str, clinic: str, max_idle: float | None, user: str | None, password: str | None
) -> None:
    nc = await nats.connect(server, user=user, password=password, inbox_prefix=f"_INBOX_{clinic}")
    js = nc.jetstream()
    name = f"{clinic}-integration"
    pulls = []
    for service in SERVICES:
        stream = f"RAPPORT_{service.upper()}"
        config = ConsumerConfig(
            name=name,
            durable_name=name,
            filter_subject=f"rapport.{clinic}.{service}.>",
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
        )
        try:
            await js.add_consumer(stream, config)
        except NotFoundError:
            continue  # that service has not published anything yet
        pulls.append(await js.pull_subscribe_bind(durable=name, stream=stream))
    idle = 0.0
    try:
        while max_idle is None or idle < max_idle:
            got_any = False
            for pull in pulls:
                try:
                    messages = await pull.fetch(100, timeout=0.5)
                except TimeoutError:
                    continue
                for message in messages:
                    event = json.loads(message.data)
                    print(
                        f"{event['time']} {event['type']} {message.subject} id={event['id']} "
                        f"data={json.dumps(event['data'], sort_keys=True)}",
                        flush=True,
                    )
                    await message.ack()
                    got_any = True
            idle = 0.0 if got_any else idle + 0.5 * max(len(pulls), 1)
            if not pulls:
                await asyncio.sleep(0.5)
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="nats://127.0.0.1:14222")
    parser.add_argument("--clinic", required=True)
    parser.add_argument("--user", default=None)
    parser.add_argument("--password", default=None)
    parser.add_argument(
        "--max-idle",
        type=float,
        default=None,
        help="exit after this many seconds without a new event",
    )
    args = parser.parse_args()
    asyncio.run(follow(args.server, args.clinic, args.max_idle, args.user, args.password))


if __name__ == "__main__":
    main()
