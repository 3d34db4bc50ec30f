"""Every pydantic-, Sanic- and Rasa-version-specific call, one module per library.

- `pydantic_api`: the pydantic v1 API under pydantic 1.10 or 2.x, and model parsing.
- `sanic_api`: requests, responses, blueprints and serving under Sanic 21.12 or newer.
- `rasa_api`: what moved or changed between Rasa Open Source 3.6 and Rasa Pro.
- `nlu_ahead`: Rasa 3.6's NLU run in a loop step of its own, before the turn (`parse_ahead`).
- `redis_api`: closing a client under redis-py 4.x or 5.x and newer.

Importing this package imports none of them, so pure code can use `pydantic_api` alone.
"""
