"""Writes of the conversation log, one module per job.

- `messages`: recording what shoppers, the bot and the system say (each once), stopping answers.
- `handoff`: a person is asked for, a ticket opens, contacts are left, a conversation closes.
- `answers`: the bot's answer to a question, from the pipeline's decision to the recorded message.
- `widget`: the shopper's chat session: identity, feedback, rating, ending it.
- `agents`: the agent console: presence, claiming, replying, handing back, suggestions.
- `events`: the append-only event log (handoff, claim, hand-back, close) the figures count.
"""
