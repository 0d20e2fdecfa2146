from pexcp.cli import main

main()
