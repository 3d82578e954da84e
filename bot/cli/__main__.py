"""``python -m bot.cli``: the same as the ``newsbot`` command."""

from bot.cli import main

if __name__ == "__main__":
    main()
