from hubspoke.cli import main

main()
