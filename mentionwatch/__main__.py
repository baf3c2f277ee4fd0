"""Allow `python -m mentionwatch`."""
from mentionwatch.cli import main

main()
