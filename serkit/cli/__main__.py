from serkit.cli import main

main()
