"""Plans: a schedule of steps plus an offset for every buffer, their JSON form and their validator."""
