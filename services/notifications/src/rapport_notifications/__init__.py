"""Rapport notifications: reminds clients of homework before it is due and recognises it when done.

Where things live: the rules in domain/model.py, the reactions to goals' events and the delivery
outcomes in service_layer/handlers.py, the delivery loop in service_layer/scheduler.py, the
reminders read model in projections.py.
"""
