"""What archiving costs: storage per month, a whole-archive job, a large scene (`imagery-archive costs`)."""
