"""tubeworks.supervisor"""
